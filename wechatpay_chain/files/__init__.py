"""Files: media uploads (`media`: PHP's MediaUtil) and bill downloads (`bills`)."""
