// cacheline_pingpong: the cost of moving one cache line between the machine's two cores and back.
// Two threads pinned to CPUs 0 and 1 take turns writing a counter the other waits for. On the
// benchmark machine (2 vCPUs, KVM) the figure changes from one run to the next as the hypervisor
// places the vCPUs; it explains the two regimes of the trace writer's drop mode (docs/benchmarks.md).
//   gcc -O2 -pthread -o cacheline_pingpong benchmarks/reference/cacheline_pingpong.c && ./cacheline_pingpong
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdatomic.h>
#include <time.h>
static _Alignas(64) atomic_long ping; static _Alignas(64) atomic_long pong;
#define N 2000000
static void pin(int c){cpu_set_t s;CPU_ZERO(&s);CPU_SET(c,&s);pthread_setaffinity_np(pthread_self(),sizeof s,&s);}
static void* other(void*a){pin(1);for(long i=1;i<=N;i++){while(atomic_load_explicit(&ping,memory_order_acquire)!=i);atomic_store_explicit(&pong,i,memory_order_release);}return 0;}
int main(){pthread_t t;pin(0);pthread_create(&t,0,other,0);struct timespec a,b;clock_gettime(CLOCK_MONOTONIC,&a);
for(long i=1;i<=N;i++){atomic_store_explicit(&ping,i,memory_order_release);while(atomic_load_explicit(&pong,memory_order_acquire)!=i);}
clock_gettime(CLOCK_MONOTONIC,&b);pthread_join(t,0);double ns=(b.tv_sec-a.tv_sec)*1e9+(b.tv_nsec-a.tv_nsec);printf("round trip %.1f ns (one-way %.1f)\n",ns/N,ns/N/2);}
