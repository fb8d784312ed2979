"""Protocol and format code: MIME parsing, IMAP retrieval, SMTP sending. No database, no Qt."""
