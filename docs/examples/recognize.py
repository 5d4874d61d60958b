"""An example for docs/en/visualization.md: MMAction2's Python API on one synthetic video."""

from kinetix.apis import inference_recognizer, init_recognizer

config = 'configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py'
checkpoint = 'work_dirs/tsm_synthetic/epoch_2.pth'
model = init_recognizer(config, checkpoint, device='cpu')
result = inference_recognizer(model, 'data/synthetic/videos/test/rotate_clockwise_0000.mp4')
classes = open('data/synthetic/classes.txt').read().split()
for label, score in result.topk(5):
    print(f'{classes[label]}: {score:.3f}')
