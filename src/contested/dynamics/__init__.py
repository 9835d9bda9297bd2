"""contested.dynamics"""
