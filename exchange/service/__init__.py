"""exchange/service"""
