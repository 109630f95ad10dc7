"""stub"""
def read_aperak(msg, options): raise NotImplementedError
def read_contrl(msg, options): raise NotImplementedError
