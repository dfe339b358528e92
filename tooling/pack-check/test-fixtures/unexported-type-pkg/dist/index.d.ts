import { CausalRouting } from '@mixdepth/core';

interface Hidden {
    a: number;
}
declare function make(causal: CausalRouting): Hidden;
interface Shown {
    b: number;
}

export { type Shown, make };
