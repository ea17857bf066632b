"""The rules, written once as ibis expressions (cleaning, customer table) and the registry of customer features."""
