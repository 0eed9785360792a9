"""Files written and read safely: atomic writes, bounded reads, checkpoints, the run folder's lock.
Ours, not a library's: each is a few lines over os (os.replace, O_EXCL, fsync), and the project
teaches what a safe write is."""
