"""Learning mode (issue 18, part 3): the box keeps speech segments VAD passed, on the box only,
to adapt its keyword spotter to the site. Off unless `[learning] enabled = true`.

Done so far: the segment store (edge/learning/store.py). Not yet done: the tap in the line,
teacher labels, fine-tuning, the swap guard, adoption, `callqa learn`.
"""
