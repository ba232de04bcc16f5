package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portico-gw/portico/internal/clock"
	"github.com/portico-gw/portico/internal/pipeline"
)

// Reservation is a number of units taken from a limit ahead of knowing the
// exact number (an LLM call reserves the most tokens it may use): Settle
// gives back what was not used, or takes what was used beyond it.
type Reservation struct {
	l *Limit
	k key
	n int64
	// remote: taken in Redis, and settled there.
	remote *Remote
}

// Shared keeps the limit's units in Redis when remote is not nil, so that
// every node takes from one count; it returns l.
func (l *Limit) Shared(remote *Remote) *Limit {
	l.remote = remote
	return l
}

var errTokensUnavailable = &pipeline.Error{Status: http.StatusServiceUnavailable, Code: "rate_limit_unavailable",
	Message: "the shared rate limit store is unreachable and rate limits fail closed; retry shortly"}

// Reserve takes n units (tokens) of limit l for the request, all or
// nothing: in Redis when the limit is shared and Redis is up, else in
// this node's memory (or, failing closed, not at all: err says so). When
// it cannot, it reports how long until it could.
func (l *Limit) Reserve(r *http.Request, x *pipeline.Exchange, n int64, now time.Time) (*Reservation, bool, time.Duration, error) {
	k := keyOf(l, r, x)
	n = max(n, 1)
	if n > int64(l.Limit) {
		return nil, false, l.Window, nil // more than the whole limit: never
	}
	if rm := l.remote; rm != nil {
		if rm.Up() {
			ok, retry, err := rm.reserve(r.Context(), l, k, n)
			if err == nil {
				if !ok {
					return nil, false, retry, nil
				}
				return &Reservation{l: l, k: k, n: n, remote: rm}, true, 0, nil
			}
			rm.failed(err)
		}
		if rm.FailClosed() {
			rm.fellBack("closed")
			return nil, false, 0, errTokensUnavailable
		}
		rm.fellBack("open")
	}
	interval := l.interval()
	window := interval * int64(l.Limit)
	cost := interval * n
	p := l.table.tat(k)
	at := clock.Of(now)
	for {
		old := p.Load()
		tat := max(old, at)
		next := tat + cost
		if next-at > window {
			if cost > window {
				return nil, false, l.Window, nil // more than the whole limit: never
			}
			return nil, false, time.Duration(next - window - at), nil
		}
		if p.CompareAndSwap(old, next) {
			return &Reservation{l: l, k: k, n: n}, true, 0, nil
		}
	}
}

// Settle corrects the reservation to the units really used.
func (r *Reservation) Settle(used int64) {
	// A reservation is at most the limit (Reserve); what was used is
	// counted up to a hundred windows' worth, so that no product below
	// overflows whatever a provider reports.
	if r == nil {
		return
	}
	used = min(max(used, 0), 100*int64(r.l.Limit))
	if used == r.n {
		return
	}
	delta := used - r.n
	r.n = used
	if r.remote != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := r.remote.settle(ctx, r.l, r.k, delta); err != nil {
			r.remote.failed(err)
		}
		return
	}
	r.l.table.tat(r.k).Add(delta * r.l.interval())
}

// Cancel gives the whole reservation back.
func (r *Reservation) Cancel() { r.Settle(0) }

// Text is the limit in decimal, for RateLimit-Limit.
func (l *Limit) Text() string { return l.text }

// reserveScript takes ARGV[1] units from one GCRA key, all or nothing, on
// Redis's clock (microseconds). ARGV: units, interval, window. Answer:
// ok, retry (microseconds).
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1]) * tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nxt = tat + cost
if nxt - now > window then
  if cost > window then return {0, window} end
  return {0, nxt - window - now}
end
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1)
return {1, 0}
`)

// settleScript adds ARGV[1] units (negative: gives them back) to a GCRA
// key. ARGV: units, interval.
var settleScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local delta = tonumber(ARGV[1]) * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  if delta <= 0 then return 0 end
  tat = now
end
local nxt = tat + delta
if nxt <= now then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1)
return 0
`)

func (r *Remote) tokenKey(l *Limit, k key) string {
	return r.limitKey(check{limit: l, key: k})
}

func (r *Remote) reserve(ctx context.Context, l *Limit, k key, n int64) (bool, time.Duration, error) {
	iv := max(l.Window.Microseconds()/int64(l.Limit), 1)
	res, err := reserveScript.Run(ctx, r.client, []string{r.tokenKey(l, k)}, n, iv, iv*int64(l.Limit)).Int64Slice()
	if err != nil {
		return false, 0, err
	}
	if len(res) != 2 {
		return false, 0, errors.New("redis token script answered badly")
	}
	return res[0] == 1, time.Duration(res[1]) * time.Microsecond, nil
}

func (r *Remote) settle(ctx context.Context, l *Limit, k key, delta int64) error {
	iv := max(l.Window.Microseconds()/int64(l.Limit), 1)
	return settleScript.Run(ctx, r.client, []string{r.tokenKey(l, k)}, delta, iv).Err()
}

// budgetScript adds ARGV[1] to a budget's spend — when ARGV[3] is 1 only
// if the spend stays within ARGV[2] — and answers the spend and whether
// it was added. ARGV[4] is the key's lifetime in seconds.
var budgetScript = redis.NewScript(`
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(ARGV[1])
if ARGV[3] == '1' and n > 0 and (used >= tonumber(ARGV[2]) or used + n > tonumber(ARGV[2])) then
  return {used, 0}
end
used = redis.call('INCRBY', KEYS[1], n)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return {used, 1}
`)

// budget adds n to consumer's spend of q's period s (checking the limit
// when reserving) in Redis.
func (r *Remote) budget(ctx context.Context, q *Quota, consumer string, s *span, n int64, reserving bool) (int64, bool, error) {
	check := 0
	if reserving {
		check = 1
	}
	key := r.prefix + "q:" + strconv.Quote(consumer) + ":" + s.key
	// Keep the spend a day past the period, for late readers.
	ttl := int64(time.Until(s.end)/time.Second) + 86400
	res, err := budgetScript.Run(ctx, r.client, []string{key}, n, q.Limit, check, ttl).Int64Slice()
	if err != nil {
		return 0, false, err
	}
	if len(res) != 2 {
		return 0, false, errors.New("redis budget script answered badly")
	}
	return res[0], res[1] == 1, nil
}
