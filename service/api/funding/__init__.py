"""Gas for the accounts the gateway signs with: the funder, the relayer and custodial members."""
