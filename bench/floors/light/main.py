"""Light floor for submit and status: functions-framework plus redis, one GET per request.

Reads REDIS_URL itself: a floor imports nothing of Tumorscope's.
"""

import os

import functions_framework
import redis

REDIS = redis.Redis.from_url(os.environ["REDIS_URL"])


@functions_framework.http
def light(_request):
    version = REDIS.get("tumorscope:dataset:current") or b""
    return ({"version": version.decode()}, 200)
