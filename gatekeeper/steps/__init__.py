"""The steps every mode shares, in the order data flows: run (gates, reports), notify, and the gate record."""
