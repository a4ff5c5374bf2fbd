-- floodgate: lifts any abuse block on a key and forgets its failures.
-- KEYS: [1] the key's abuse hash.
redis.call('DEL', KEYS[1])
return 0
