# Copies CMake's PTX objects (kernels/cuda/x.cu -> .../x.ptx) to ${OUT}/x.ptx.
string(REPLACE "|" ";" objs "${OBJECTS}")
foreach(obj IN LISTS objs)
  get_filename_component(name "${obj}" NAME_WE)
  configure_file("${obj}" "${OUT}/${name}.ptx" COPYONLY)
  message(STATUS "ptx: ${OUT}/${name}.ptx")
endforeach()
