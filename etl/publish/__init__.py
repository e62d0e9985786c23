"""Upward exchange: pushing 双公示 records and city indicators to the provincial and national platforms."""
