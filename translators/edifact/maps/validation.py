"""stub"""
def validate(msg): return []
