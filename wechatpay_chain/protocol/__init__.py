"""The pure protocol, free of I/O: APIv3 (`_v3`: build, encrypt, sign, verify) and APIv2 (`v2`, public: XML,
MD5/HMAC sign, `parse`), the one signature check (`_signature`), sensitive-field encryption (`_sensitive`),
retries as steps of a flow (`_retry`), and PHP's string builders (`_formatter`, `_transformer`)."""
