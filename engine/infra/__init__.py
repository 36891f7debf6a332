"""What every pipeline step stands on, apart from the steps themselves: atomic writes (`atomic`), workspace
locks (`locks`), named crash points for tests (`faults`), lazy module attributes (`lazy`), reading ahead on a
worker thread (`prefetch`), writing a stream of frames to one file (`frame_writer`) and the one duration
syntax (`durations`).
"""
