"""exchange/entrypoints"""
