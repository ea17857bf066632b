"""Reading transaction logs: files, folders, workbooks, downloads and the built-in sample."""
