"""Reading raw data: where it comes from (path, URL, checksum) and the file formats it comes in."""
