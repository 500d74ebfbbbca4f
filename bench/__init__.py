"""`make bench`: cold starts, warm latency, plot time, job turnaround, RSS and scale, beside their floors."""
