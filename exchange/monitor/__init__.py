"""The provincial (or national) monitor: obligation lifecycle facts in, timeliness figures out."""
