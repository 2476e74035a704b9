"""`python -m tfgpu`."""

from tfgpu.launch import main

if __name__ == "__main__":
    main()
