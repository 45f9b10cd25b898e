"""Placeholder replaced below."""
class Client:  # filled in once facetd's API is on main
    pass
