"""contested.experiments"""
