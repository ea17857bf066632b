"""What customers are worth and how they move: lifetime value and segment migration."""
