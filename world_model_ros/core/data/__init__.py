"""From recordings to training samples: rosbag2 bags (MCAP or sqlite3) to episodes at a fixed
step (``dataset``), camera images from their wire form (``images``), the arena ground truth a
simulator bag carries (``episodes``), and the fixed-length windows training and evaluation cut
from episodes (``windows``)."""
