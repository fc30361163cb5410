# Holds a redis-py Lock (SET NX PX with a uuid1 hex token) and waits to be killed.
# usage: python3 hold-redis-py.py <redis url> <name> <timeout seconds>
# Prints one JSON line {"acquired": <wall ms>} once it holds the lock.
import json, sys, time
import redis

url, name, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
client = redis.Redis.from_url(url)
lock = client.lock(name, timeout=timeout)
if not lock.acquire(blocking=True, blocking_timeout=10):
    sys.exit('could not acquire ' + name)
print(json.dumps({"acquired": int(time.time() * 1000)}), flush=True)
while True:
    time.sleep(60)
