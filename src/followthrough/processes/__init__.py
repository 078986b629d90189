"""One package per business process; `followthrough.catalog` lists them."""
