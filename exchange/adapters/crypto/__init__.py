"""Trust and privacy: who may call, what they may do, signed records, encrypted payloads, the evidence chain."""
