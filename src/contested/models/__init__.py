"""contested.models"""
