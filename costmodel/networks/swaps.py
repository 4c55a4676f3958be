SWAPPABLE = {}
def swap(*a, **k): raise NotImplementedError
