"""The pure protocol, free of I/O: APIv3 (`v3`: build, encrypt, sign, verify) and APIv2 (`v2`: XML, MD5/HMAC
sign), sensitive-field encryption (`sensitive`), retries as steps of a flow (`retry`), and PHP's string
builders (`formatter`, `transformer`)."""
