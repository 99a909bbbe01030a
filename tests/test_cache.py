from brushwork.cache import LRUCache


def test_lru_cache_drops_the_least_recently_used_entry():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1              # "a" is now the most recent ...
    cache.put("c", 3)                       # ... so "b" goes
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3 and len(cache) == 2
    cache.clear()
    assert len(cache) == 0 and cache.get("a") is None
