/* placeholder: being written */
#include "kiln/extract.h"
