"""contested.train"""
