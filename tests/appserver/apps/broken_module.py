raise RuntimeError("this module fails while importing")
