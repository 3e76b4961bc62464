-- POST /v3/kv/range of one existing key (linearizable, the default).
wrk.method = "POST"
wrk.path = "/v3/kv/range"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"key":"YmVuY2gta2V5"}'
