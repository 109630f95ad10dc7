"""Intake sources: directory, SFTP, FTP/FTPS, AS2 and SMTP."""
