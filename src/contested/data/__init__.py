"""contested.data"""
