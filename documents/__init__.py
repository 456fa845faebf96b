"""Word generation (docxtpl) and checksummed file storage. Never imports ``processes``."""
