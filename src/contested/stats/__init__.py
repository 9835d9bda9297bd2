"""contested.stats"""
