"""exchange/adapters"""
