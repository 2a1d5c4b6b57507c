"""Files: media uploads (`_media`: PHP's MediaUtil), bill downloads (`_bills`) and the atomic file writer
(`_atomic`). The public names are re-exported by `wechatpay_chain.mediautil` and `wechatpay_chain.bills`."""
