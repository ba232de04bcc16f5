-- LLM calls in the rollups: tokens, their cost in 10⁻¹² of the price
-- table's currency (exact for prices with up to six decimals per million
-- tokens), how many calls had no price, and how many had their tokens
-- estimated (no usage reported).
ALTER TABLE usage_rollups ADD COLUMN tokens_in BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups ADD COLUMN tokens_out BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups ADD COLUMN cost_pico BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups ADD COLUMN unpriced BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups ADD COLUMN estimated BIGINT NOT NULL DEFAULT 0;
