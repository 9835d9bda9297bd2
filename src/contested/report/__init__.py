"""contested.report"""
