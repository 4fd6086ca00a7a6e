"""The relay: EIP-712 requests of self-custodied members, sent and paid for by the relayer key within
a per-member gas budget."""
