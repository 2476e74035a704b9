import collections
build_info = collections.OrderedDict([('is_cuda_build', True), ('is_rocm_build', False), ('is_tensorrt_build', False)])
