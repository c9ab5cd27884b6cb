# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := .shoal/demo

.PHONY: install demo test lint bench bench-peers nexmark clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(BIN)/python -m apps.generate --count 20000 --out $(DEMO_DIR)/orders.jsonl
	$(BIN)/shoal produce orders $(DEMO_DIR)/orders.jsonl --data-dir $(DEMO_DIR) --key order_id --time ts --partitions 4
	$(BIN)/python -m apps.generate --kind stock --count 5000 --out $(DEMO_DIR)/stock.jsonl
	$(BIN)/shoal produce stock $(DEMO_DIR)/stock.jsonl --data-dir $(DEMO_DIR) --key sku --time ts --partitions 4
	$(BIN)/python -m apps.generate --kind shop --count 20000 --out $(DEMO_DIR)/shop
	$(BIN)/shoal produce products $(DEMO_DIR)/shop/products.jsonl --data-dir $(DEMO_DIR) --key sku --time ts --partitions 4
	$(BIN)/shoal produce buys $(DEMO_DIR)/shop/buys.jsonl --data-dir $(DEMO_DIR) --key order_id --time ts --partitions 4
	$(BIN)/shoal produce shipped $(DEMO_DIR)/shop/shipped.jsonl --data-dir $(DEMO_DIR) --key order_id --time ts --partitions 4
	$(BIN)/shoal run apps/orders.py --until-caught-up --data-dir $(DEMO_DIR)
	$(BIN)/shoal run apps/shop_tables.py --until-caught-up --data-dir $(DEMO_DIR)
	$(BIN)/shoal run apps/shop.py --until-caught-up --data-dir $(DEMO_DIR)
	$(BIN)/shoal topics --data-dir $(DEMO_DIR)
	@for t in orders.large orders.dlq orders.fulfilled orders.unshipped; do \
	  echo "--- last 2 records of $$t"; \
	  $(BIN)/shoal tail $$t -n 2 --data-dir $(DEMO_DIR); \
	done
	@echo "--- query: revenue of sku-007 per minute (first 3 windows)"
	@$(BIN)/shoal query apps/shop_tables.py revenue-per-minute sku-007 --data-dir $(DEMO_DIR) | head -3
	@echo "--- query: inventory, first 5 products"
	$(BIN)/shoal query apps/shop_tables.py inventory --limit 5 --data-dir $(DEMO_DIR)
	@echo "--- query: revenue of category 'garden' per hour (first 3 hours)"
	@$(BIN)/shoal query apps/shop.py revenue-per-category-hour garden --data-dir $(DEMO_DIR) | head -3
	@echo "--- query: open orders of customer c-00042"
	$(BIN)/shoal query apps/shop.py open-orders-per-customer c-00042 --data-dir $(DEMO_DIR)

lint: $(STAMP)
	$(BIN)/ruff check engine operators apps tests benchmarks
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/python -m pytest -rs

nexmark: $(STAMP)
	$(BIN)/python -m benchmarks.nexmark $(NEXMARK_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.stateless
	$(BIN)/python -m benchmarks.windows
	$(BIN)/python -m benchmarks.windows --keys 10000
	$(BIN)/python -m benchmarks.rekeyed
	$(BIN)/python -m benchmarks.join
	$(BIN)/python -m benchmarks.kafka

bench-peers: $(STAMP)
	$(BIN)/python -m benchmarks.peers $(PEERS_ARGS)

clean:
	rm -rf $(VENV) .shoal build *.egg-info
