"""Real-time transaction screening: the payment model, the rules (stateless and windowed per
account), the reporting-currency rate table, and the sources that publish transactions."""
